package main

import (
	"context"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/hashicorp/terraform-plugin-framework/datasource"
	"github.com/hashicorp/terraform-plugin-framework/provider"
	"github.com/hashicorp/terraform-plugin-framework/provider/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type keyplaneProvider struct{}

type providerModel struct {
	Endpoint       types.String `tfsdk:"endpoint"`
	Token          types.String `tfsdk:"token"`
	OrganizationID types.String `tfsdk:"organization_id"`
}

func newProvider() provider.Provider { return &keyplaneProvider{} }

func (p *keyplaneProvider) Metadata(_ context.Context, _ provider.MetadataRequest, resp *provider.MetadataResponse) {
	resp.TypeName = "keyplane"
}

func (p *keyplaneProvider) Schema(_ context.Context, _ provider.SchemaRequest, resp *provider.SchemaResponse) {
	resp.Schema = schema.Schema{
		Attributes: map[string]schema.Attribute{
			"endpoint":        schema.StringAttribute{Optional: true},
			"token":           schema.StringAttribute{Optional: true, Sensitive: true},
			"organization_id": schema.StringAttribute{Optional: true},
		},
	}
}

func (p *keyplaneProvider) Configure(ctx context.Context, req provider.ConfigureRequest, resp *provider.ConfigureResponse) {
	var m providerModel
	resp.Diagnostics.Append(req.Config.Get(ctx, &m)...)
	if resp.Diagnostics.HasError() {
		return
	}
	c := &client{
		endpoint:     strings.TrimRight(orEnv(m.Endpoint, "KEYPLANE_ENDPOINT"), "/"),
		token:        orEnv(m.Token, "KEYPLANE_TOKEN"),
		organization: orEnv(m.OrganizationID, "KEYPLANE_ORGANIZATION_ID"),
		http:         &http.Client{Timeout: 30 * time.Second},
	}
	if c.endpoint == "" || c.token == "" {
		resp.Diagnostics.AddError("Missing configuration", "endpoint and token (or KEYPLANE_ENDPOINT and KEYPLANE_TOKEN) are required.")
		return
	}
	resp.ResourceData = c
}

func orEnv(v types.String, name string) string {
	if !v.IsNull() && !v.IsUnknown() {
		return v.ValueString()
	}
	return os.Getenv(name)
}

func (p *keyplaneProvider) Resources(context.Context) []func() resource.Resource {
	return []func() resource.Resource{newCredentialResource}
}

func (p *keyplaneProvider) DataSources(context.Context) []func() datasource.DataSource {
	return nil
}
