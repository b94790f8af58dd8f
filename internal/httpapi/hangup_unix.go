//go:build linux || darwin

package httpapi

import (
	"errors"
	"net"
	"syscall"
)

// hungUp reports whether conn's client has closed or reset it, without
// waiting and without taking anything it may have sent: a peek.
func hungUp(conn net.Conn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true // closed already
	}
	gone := false
	err = raw.Read(func(fd uintptr) bool {
		var b [1]byte
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case err == nil:
			gone = n == 0 // end of stream; n > 0 is more from a client still there
		case errors.Is(err, syscall.EAGAIN), errors.Is(err, syscall.EINTR):
		default:
			gone = true // a reset, or the socket is gone
		}
		return true // never wait for readiness
	})
	return gone || err != nil
}
