package api

import (
	"bytes"
	"fmt"
	"sync"

	"go.yaml.in/yaml/v3"
)

// topLevelOrder is the order of an OpenAPI document's top-level keys as people
// write them; the embedded spec has them sorted.
var topLevelOrder = []string{"openapi", "info", "servers", "security", "tags", "paths", "components"}

// SpecYAML returns the embedded contract as a YAML document, for serving
// GET /openapi.yaml. The contract file itself lives outside this package, so it
// cannot be embedded; its generated copy (GetSpecJSON) can. The bytes are
// shared: callers must not modify them.
func SpecYAML() ([]byte, error) { return specYAML() }

var specYAML = sync.OnceValues(func() ([]byte, error) {
	raw, err := GetSpecJSON()
	if err != nil {
		return nil, err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, fmt.Errorf("api: parse embedded spec: %w", err)
	}
	blockStyle(&doc)
	if len(doc.Content) == 1 {
		orderKeys(doc.Content[0], topLevelOrder)
	}
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&doc); err != nil {
		return nil, fmt.Errorf("api: encode spec as YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("api: encode spec as YAML: %w", err)
	}
	return buf.Bytes(), nil
})

// blockStyle drops the JSON (flow, double-quoted) styles so that the encoder
// writes plain block YAML, quoting only where a value would otherwise change type.
func blockStyle(n *yaml.Node) {
	n.Style = 0
	for _, c := range n.Content {
		blockStyle(c)
	}
}

// orderKeys moves the given keys of mapping m to its front, in that order.
func orderKeys(m *yaml.Node, keys []string) {
	if m.Kind != yaml.MappingNode {
		return
	}
	rank := make(map[string]int, len(keys))
	for i, k := range keys {
		rank[k] = i
	}
	first := make([][2]*yaml.Node, len(keys))
	var rest []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if r, ok := rank[k.Value]; ok {
			first[r] = [2]*yaml.Node{k, v}
			continue
		}
		rest = append(rest, k, v)
	}
	ordered := make([]*yaml.Node, 0, len(m.Content))
	for _, kv := range first {
		if kv[0] != nil {
			ordered = append(ordered, kv[0], kv[1])
		}
	}
	m.Content = append(ordered, rest...)
}
