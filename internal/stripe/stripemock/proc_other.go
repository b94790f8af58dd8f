//go:build !linux

package stripemock

import "os/exec"

// dieWithParent is a no-op where the OS has no parent-death signal: Close (or
// stripetest.Main) stops the process.
func dieWithParent(*exec.Cmd) {}
