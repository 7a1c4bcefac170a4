//go:build unix

package aggregate

import "golang.org/x/sys/unix"

// stdoutTerminalSize is the window size of the terminal on the process's
// stdout; ok is false when stdout is not a terminal.
func stdoutTerminalSize() (cols, rows int, ok bool) {
	// fd 1 rather than os.Stdout.Fd(), which would make stdout blocking.
	ws, err := unix.IoctlGetWinsize(1, unix.TIOCGWINSZ)
	if err != nil || ws.Col == 0 || ws.Row == 0 {
		return 0, 0, false
	}
	return int(ws.Col), int(ws.Row), true
}
