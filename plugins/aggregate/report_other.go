//go:build !unix

package aggregate

// stdoutTerminalSize reports no terminal: on this system every table is
// printed whole.
func stdoutTerminalSize() (cols, rows int, ok bool) { return 0, 0, false }
