//go:build !linux

package main

import (
	"errors"
	"os/exec"
)

var errNoProc = errors.New("needs Linux")

// dieWithParent is a no-op where the OS has no parent-death signal.
func dieWithParent(*exec.Cmd) {}

// raiseFileLimit leaves the limit alone off Linux.
func raiseFileLimit() (uint64, error) { return 0, errNoProc }

// openFileLimit is unknown off Linux.
func openFileLimit(int) (uint64, error) { return 0, errNoProc }
