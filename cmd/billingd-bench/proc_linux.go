package main

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a replica when the benchmark dies, so an
// interrupted run leaves no billingd behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
