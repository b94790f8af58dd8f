// Package api is billingd's HTTP contract in Go, generated from ../openapi.yaml by
// oapi-codegen: the request and response models, the Echo strict-server
// interface that internal/httpapi implements, and the embedded spec
// (GetSwagger) used for request validation and contract tests.
//
// Do not edit the *.gen.go files: change openapi.yaml and run `go generate
// ./api/`. TestGeneratedCodeIsUpToDate fails when they are stale. views.go,
// written by hand, maps billing's views to these models, for the HTTP
// responses and for the events billingd sends alike.
//
// Generation is split in two runs because oapi-codegen's operation filter also
// removes the filtered operations from the embedded spec: cfg.yaml generates
// models and the embedded spec from the whole contract, server.cfg.yaml the
// server for every operation but the ones registered by hand.
package api

//go:generate go tool oapi-codegen --config=cfg.yaml ../openapi.yaml
//go:generate go tool oapi-codegen --config=server.cfg.yaml ../openapi.yaml
