package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/billingd/billingd/internal/billing"
)

// loadCatalog reads a plan catalog from a YAML (.yaml, .yml) or JSON (.json)
// file holding either a list of plans or {"plans": [...]}. Unknown fields are
// errors, so a misspelt "lookup_keys" does not silently yield an empty plan.
func loadCatalog(path string) (*billing.Catalog, error) {
	var decode func([]byte) ([]billing.Plan, error)
	switch ext := strings.ToLower(filepath.Ext(path)); ext {
	case ".json":
		decode = decodePlansJSON
	case ".yaml", ".yml":
		decode = decodePlansYAML
	default:
		return nil, fmt.Errorf("must end in .yaml, .yml or .json, not %q", ext)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, errors.Unwrap(err) // the *PathError repeats the path
	}
	plans, err := decode(data)
	if err != nil {
		return nil, err
	}
	return billing.NewCatalog(plans)
}

type plansDocument struct {
	Plans []billing.Plan `json:"plans" yaml:"plans"`
}

func decodePlansJSON(data []byte) ([]billing.Plan, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var err error
	var doc plansDocument
	if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
		err = dec.Decode(&doc.Plans)
	} else {
		err = dec.Decode(&doc)
	}
	if err != nil {
		return nil, fmt.Errorf("invalid JSON plan catalog: %w", err)
	}
	return doc.Plans, nil
}

func decodePlansYAML(data []byte) ([]billing.Plan, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, fmt.Errorf("invalid YAML plan catalog: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var err error
	var doc plansDocument
	if len(root.Content) > 0 && root.Content[0].Kind == yaml.SequenceNode {
		err = dec.Decode(&doc.Plans)
	} else {
		err = dec.Decode(&doc)
	}
	var typeErr *yaml.TypeError
	if errors.As(err, &typeErr) { // one line per field otherwise
		return nil, fmt.Errorf("invalid YAML plan catalog: %s", strings.Join(typeErr.Errors, "; "))
	}
	if err != nil {
		return nil, fmt.Errorf("invalid YAML plan catalog: %w", err)
	}
	return doc.Plans, nil
}
