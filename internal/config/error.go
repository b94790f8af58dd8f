package config

import (
	"fmt"
	"strings"
)

// Error is a configuration problem with one environment variable. Problem never
// contains the value of a secret.
type Error struct {
	Var     string // the environment variable, e.g. "STRIPE_SECRET_KEY"
	Problem string // e.g. "is required"
}

func (e *Error) Error() string { return "config: " + e.Var + " " + e.Problem }

func problem(name, format string, args ...any) *Error {
	// One line, whatever a wrapped error (a YAML parser's, say) looks like.
	msg := strings.ReplaceAll(fmt.Sprintf(format, args...), "\n", " ")
	return &Error{Var: name, Problem: msg}
}

const (
	portProblem      = "must be an integer between 1 and 65535"
	trialDaysProblem = "must be an integer between 0 and 730"
	pprofAddrProblem = "must be host:port with a host and a port between 0 and 65535 (0: any free port), such as 127.0.0.1:6060"
)
