package lifecycle

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestSetExitAndRestore(t *testing.T) {
	var got []int
	restore := SetExit(func(code int) { got = append(got, code) })
	Exit(3)
	restore()
	Exit(4) // the default does nothing under go test
	assert.Equal(t, []int{3}, got)
}
