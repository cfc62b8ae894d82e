// Type-level tests, run by vitest's typecheck mode (vitest.config.ts): each expectTypeOf here is a
// test that fails when the compiler disagrees. At run time expectTypeOf asserts nothing, which is
// why these live in a .test-d.ts file and not in a .test.ts one.
import { describe, expectTypeOf, it } from "vitest";
import type { HeaderParams, QueryParams, RequestBody, ResponseBody, Schemas } from "../../service/contract-types.js";
import type { parseBody } from "../../service/http/validation.js";

describe("generated types", () => {
  it("the typed helpers are bound to the generated operation types", () => {
    expectTypeOf<RequestBody<"createCredential">>().toEqualTypeOf<Schemas["CredentialCreate"]>();
    expectTypeOf<RequestBody<"rotateCredential">>().toEqualTypeOf<Schemas["CredentialRotate"]>();
    expectTypeOf<RequestBody<"activateCredential">>().toEqualTypeOf<undefined>();
    expectTypeOf<QueryParams<"listCredentials">["limit"]>().toEqualTypeOf<number | undefined>();
    expectTypeOf<QueryParams<"listCredentials">["active"]>().toEqualTypeOf<boolean | undefined>();
    expectTypeOf<HeaderParams<"createCredential">["Idempotency-Key"]>().toEqualTypeOf<string | undefined>();
    expectTypeOf<ResponseBody<"getCredential", 200>>().toEqualTypeOf<Schemas["Credential"]>();
    expectTypeOf<ResponseBody<"resolveCredential", 404>>().toEqualTypeOf<Schemas["NoCredentialProblem"]>();
    expectTypeOf<ResponseBody<"deleteCredential", 409>>().toEqualTypeOf<Schemas["CredentialInUseProblem"]>();
    expectTypeOf<ReturnType<typeof parseBody<"createToken">>>().toEqualTypeOf<Schemas["TokenCreate"]>();
  });
});
