// Package mountinfo holds what every reader of /proc/PID/mountinfo
// (proc(5)) needs: the kernel writes a space, tab, newline or backslash in
// a path as an octal escape (\040), so a path must be unescaped before it
// is compared with a path on disk.
package mountinfo

import (
	"strconv"
	"strings"
)

// Unescape undoes mountinfo's \ooo escapes in one path field.
func Unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
