// protobufjs static code for the protocol's messages (cdktf-provider/scripts/gen-protocol.mjs):
// message classes nested by their .proto names, which server.ts looks up by the names in
// protocol.json and types there.
declare const codecs: { readonly [name: string]: unknown };
export = codecs;
