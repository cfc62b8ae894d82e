package main

import (
	"context"
	"errors"
	"net/http"

	"github.com/hashicorp/terraform-plugin-framework/resource"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/booldefault"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/planmodifier"
	"github.com/hashicorp/terraform-plugin-framework/resource/schema/stringplanmodifier"
	"github.com/hashicorp/terraform-plugin-framework/types"
)

type credentialResource struct{ client *client }

type credentialModel struct {
	ID              types.String `tfsdk:"id"`
	OrganizationID  types.String `tfsdk:"organization_id"`
	ProviderType    types.String `tfsdk:"provider_type"`
	Name            types.String `tfsdk:"name"`
	APIKeyWO        types.String `tfsdk:"api_key_wo"`
	APIKeyWOVersion types.Int64  `tfsdk:"api_key_wo_version"`
	IsDefault       types.Bool   `tfsdk:"is_default"`
	Active          types.Bool   `tfsdk:"active"`
	KeyHint         types.String `tfsdk:"key_hint"`
	KeyVersion      types.Int64  `tfsdk:"key_version"`
	CreatedAt       types.String `tfsdk:"created_at"`
	UpdatedAt       types.String `tfsdk:"updated_at"`
}

func newCredentialResource() resource.Resource { return &credentialResource{} }

func (r *credentialResource) Metadata(_ context.Context, req resource.MetadataRequest, resp *resource.MetadataResponse) {
	resp.TypeName = req.ProviderTypeName + "_credential"
}

func (r *credentialResource) Schema(_ context.Context, _ resource.SchemaRequest, resp *resource.SchemaResponse) {
	replace := []planmodifier.String{stringplanmodifier.RequiresReplace()}
	keep := []planmodifier.String{stringplanmodifier.UseStateForUnknown()}
	resp.Schema = schema.Schema{
		Attributes: map[string]schema.Attribute{
			"id":                 schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"organization_id":    schema.StringAttribute{Optional: true, Computed: true, PlanModifiers: append(replace, keep...)},
			"provider_type":      schema.StringAttribute{Required: true, PlanModifiers: replace},
			"name":               schema.StringAttribute{Required: true},
			"api_key_wo":         schema.StringAttribute{Optional: true, Sensitive: true, WriteOnly: true},
			"api_key_wo_version": schema.Int64Attribute{Optional: true},
			"is_default":         schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(false)},
			"active":             schema.BoolAttribute{Optional: true, Computed: true, Default: booldefault.StaticBool(true)},
			"key_hint":           schema.StringAttribute{Computed: true},
			"key_version":        schema.Int64Attribute{Computed: true},
			"created_at":         schema.StringAttribute{Computed: true, PlanModifiers: keep},
			"updated_at":         schema.StringAttribute{Computed: true},
		},
	}
}

func (r *credentialResource) Configure(_ context.Context, req resource.ConfigureRequest, _ *resource.ConfigureResponse) {
	if c, ok := req.ProviderData.(*client); ok {
		r.client = c
	}
}

func (m *credentialModel) set(c *credential) {
	m.ID = types.StringValue(c.ID)
	m.OrganizationID = types.StringValue(c.OrganizationID)
	m.ProviderType = types.StringValue(c.Provider)
	m.Name = types.StringValue(c.Name)
	m.IsDefault = types.BoolValue(c.IsDefault)
	m.Active = types.BoolValue(c.Active)
	m.KeyHint = types.StringValue(c.KeyHint)
	m.KeyVersion = types.Int64Value(c.KeyVersion)
	m.CreatedAt = types.StringValue(c.CreatedAt)
	m.UpdatedAt = types.StringValue(c.UpdatedAt)
	// Write-only: never in state.
	m.APIKeyWO = types.StringNull()
}

func (r *credentialResource) organization(m *credentialModel) string {
	if !m.OrganizationID.IsNull() && !m.OrganizationID.IsUnknown() {
		return m.OrganizationID.ValueString()
	}
	return r.client.organization
}

func (r *credentialResource) Create(ctx context.Context, req resource.CreateRequest, resp *resource.CreateResponse) {
	var plan, config credentialModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	org := r.organization(&plan)
	var out credential
	body := map[string]any{
		"provider":   plan.ProviderType.ValueString(),
		"name":       plan.Name.ValueString(),
		"api_key":    config.APIKeyWO.ValueString(),
		"is_default": plan.IsDefault.ValueBool(),
		"active":     plan.Active.ValueBool(),
	}
	if err := r.client.do(ctx, http.MethodPost, "/v1/organizations/"+org+"/credentials", body, &out); err != nil {
		resp.Diagnostics.AddError("Creating the credential failed", err.Error())
		return
	}
	plan.set(&out)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *credentialResource) Read(ctx context.Context, req resource.ReadRequest, resp *resource.ReadResponse) {
	var state credentialModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	var out credential
	err := r.client.do(ctx, http.MethodGet, r.client.credentialPath(r.organization(&state), state.ID.ValueString()), nil, &out)
	if errors.As(err, &notFound{}) {
		resp.State.RemoveResource(ctx)
		return
	}
	if err != nil {
		resp.Diagnostics.AddError("Reading the credential failed", err.Error())
		return
	}
	state.set(&out)
	resp.Diagnostics.Append(resp.State.Set(ctx, &state)...)
}

func (r *credentialResource) Update(ctx context.Context, req resource.UpdateRequest, resp *resource.UpdateResponse) {
	var plan, state, config credentialModel
	resp.Diagnostics.Append(req.Plan.Get(ctx, &plan)...)
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	resp.Diagnostics.Append(req.Config.Get(ctx, &config)...)
	if resp.Diagnostics.HasError() {
		return
	}
	path := r.client.credentialPath(r.organization(&state), state.ID.ValueString())
	var out credential
	if !plan.APIKeyWOVersion.Equal(state.APIKeyWOVersion) {
		if err := r.client.do(ctx, http.MethodPost, path+"/rotate", map[string]any{"api_key": config.APIKeyWO.ValueString()}, &out); err != nil {
			resp.Diagnostics.AddError("Rotating the credential failed", err.Error())
			return
		}
	}
	patch := map[string]any{"name": plan.Name.ValueString(), "is_default": plan.IsDefault.ValueBool()}
	if err := r.client.do(ctx, http.MethodPatch, path, patch, &out); err != nil {
		resp.Diagnostics.AddError("Updating the credential failed", err.Error())
		return
	}
	if plan.Active.ValueBool() != out.Active {
		action := "/deactivate"
		if plan.Active.ValueBool() {
			action = "/activate"
		}
		if err := r.client.do(ctx, http.MethodPost, path+action, map[string]any{}, &out); err != nil {
			resp.Diagnostics.AddError("Changing the credential's activation failed", err.Error())
			return
		}
	}
	plan.set(&out)
	resp.Diagnostics.Append(resp.State.Set(ctx, &plan)...)
}

func (r *credentialResource) Delete(ctx context.Context, req resource.DeleteRequest, resp *resource.DeleteResponse) {
	var state credentialModel
	resp.Diagnostics.Append(req.State.Get(ctx, &state)...)
	if resp.Diagnostics.HasError() {
		return
	}
	err := r.client.do(ctx, http.MethodDelete, r.client.credentialPath(r.organization(&state), state.ID.ValueString())+"?force=true", nil, nil)
	if err != nil && !errors.As(err, &notFound{}) {
		resp.Diagnostics.AddError("Deleting the credential failed", err.Error())
	}
}
