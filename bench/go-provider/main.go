// A baseline for `npm run bench`: the smallest honest Go provider for keyplane_credential, built on
// HashiCorp's terraform-plugin-framework the way a typical Go provider is. It manages the same
// credentials through the same REST API as the Keyplane plugin, with one GET per resource on
// refresh (no batching), so a plan of N credentials here is what the Go ecosystem's usual shape
// costs. It is not a product: no import, no projects, no retries.
package main

import (
	"context"
	"log"

	"github.com/hashicorp/terraform-plugin-framework/providerserver"
)

func main() {
	err := providerserver.Serve(context.Background(), newProvider, providerserver.ServeOpts{
		Address: "registry.terraform.io/bench/keyplane",
	})
	if err != nil {
		log.Fatal(err)
	}
}
