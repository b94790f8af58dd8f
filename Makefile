# Developer shortcuts. The README's two commands need only Go; these add the
# race detector (needs a C compiler) and the code generator.
.PHONY: dev test race generate lint ci bench

dev: ## run billingd in dev mode (SQLite, stripe-mock, generated secrets)
	go run ./cmd/billingd dev

test: ## the whole test suite, as CI runs it (race detector on)
	go test -race ./...

generate: ## regenerate api/ from openapi.yaml
	go generate ./api/

lint: ## formatting and vet
	@test -z "$$(gofmt -l .)" || { gofmt -l .; echo "gofmt would change the files above"; exit 1; }
	go vet ./...

ci: ## what CI runs
	bash .ci/run

bench: ## measure billingd on loopback: stripe-mock, PostgreSQL, two replicas (see README)
	go run ./cmd/billingd-bench
