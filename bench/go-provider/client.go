package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
)

type client struct {
	endpoint     string
	token        string
	organization string
	http         *http.Client
}

// credential is the part of the service's Credential that this baseline keeps in state.
type credential struct {
	ID             string  `json:"id"`
	OrganizationID string  `json:"organization_id"`
	Provider       string  `json:"provider"`
	Name           string  `json:"name"`
	KeyHint        string  `json:"key_hint"`
	KeyVersion     int64   `json:"key_version"`
	IsDefault      bool    `json:"is_default"`
	Active         bool    `json:"active"`
	CreatedAt      string  `json:"created_at"`
	UpdatedAt      string  `json:"updated_at"`
	RotatedAt      *string `json:"rotated_at"`
}

type notFound struct{}

func (notFound) Error() string { return "not found" }

func (c *client) credentialPath(org, id string) string {
	return fmt.Sprintf("/v1/organizations/%s/credentials/%s", org, id)
}

// do sends one request and decodes a credential from the answer when out is not nil.
func (c *client) do(ctx context.Context, method, path string, body any, out *credential) error {
	var reader io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		reader = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.endpoint+path, reader)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && !strings.HasSuffix(path, "/credentials") {
		// Writes to an existing credential are conditional in this API; the baseline keeps no
		// ETag, so it takes whatever version is current.
		req.Header.Set("If-Match", "*")
	}
	res, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	if res.StatusCode == http.StatusNotFound {
		return notFound{}
	}
	if res.StatusCode >= 300 {
		// Problem JSON from the service: its title and detail, never a request body.
		var problem struct {
			Title  string `json:"title"`
			Detail string `json:"detail"`
		}
		_ = json.Unmarshal(data, &problem)
		return fmt.Errorf("%s %s: %d %s: %s", method, path, res.StatusCode, problem.Title, problem.Detail)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}
