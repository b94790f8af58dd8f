package stripemock

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill stripe-mock when the process that started
// it dies, so that a test binary killed by a timeout leaves no mock behind.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
