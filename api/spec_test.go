package api_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/billingd/billingd/api"
)

func TestSpec(t *testing.T) {
	t.Run("Valid", func(t *testing.T) {
		doc, err := api.GetSpec()
		if err != nil {
			t.Fatal(err)
		}
		if err := doc.Validate(context.Background()); err != nil {
			t.Fatalf("embedded spec is not a valid OpenAPI document: %v", err)
		}
	})

	// The server is generated without the hand-registered operations; the
	// embedded spec must still describe them.
	t.Run("DescribesHandRegisteredOperations", func(t *testing.T) {
		doc, err := api.GetSpec()
		if err != nil {
			t.Fatal(err)
		}
		for path, method := range map[string]string{"/webhooks/stripe": "POST", "/openapi.yaml": "GET"} {
			if item := doc.Paths.Value(path); item == nil || item.GetOperation(method) == nil {
				t.Errorf("embedded spec lacks %s %s", method, path)
			}
		}
	})

	t.Run("YAMLIsTheSameDocument", func(t *testing.T) {
		y, err := api.SpecYAML()
		if err != nil {
			t.Fatal(err)
		}
		fromYAML, err := openapi3.NewLoader().LoadFromData(y)
		if err != nil {
			t.Fatalf("SpecYAML does not load: %v", err)
		}
		embedded, err := api.GetSpec()
		if err != nil {
			t.Fatal(err)
		}
		a, _ := fromYAML.MarshalJSON()
		b, _ := embedded.MarshalJSON()
		if !reflect.DeepEqual(a, b) {
			t.Error("SpecYAML differs from the embedded spec")
		}
	})
}
