// Package prunefilter is the selection Docker's prune commands and
// endpoints take (`docker container|network|volume prune --filter`):
// until=TIME keeps what was created at or after TIME, label=K / label=K=V
// keeps what lacks the label, label!=K / label!=K=V keeps what has it.
// Several values of one key must all hold, as in dockerd's prune
// (daemon/prune.go matchLabels, getUntilFromPruneFilters).
package prunefilter

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Filter is one prune's selection. The zero Filter selects everything.
type Filter struct {
	// Until, when set, selects only objects created before it.
	Until time.Time
	// Labels must all be on the object (K or K=V); NotLabels must not.
	Labels, NotLabels []string
	// All is volume prune's all=true (named volumes too, API ≥ 1.42).
	All bool
}

// Parse reads the filters of a prune request (key → values, as the API's
// filters parameter decodes) at the time now. Unknown keys are refused, as
// dockerd refuses them ("invalid filter").
func Parse(args map[string][]string, now time.Time) (Filter, error) {
	var f Filter
	for k, vs := range args {
		switch k {
		case "until":
			if len(vs) > 1 {
				return f, fmt.Errorf("more than one until filter specified")
			}
			for _, v := range vs {
				t, err := ParseTime(v, now)
				if err != nil {
					return f, err
				}
				f.Until = t
			}
		case "label":
			f.Labels = append(f.Labels, vs...)
		case "label!":
			f.NotLabels = append(f.NotLabels, vs...)
		case "all":
			for _, v := range vs {
				b, err := strconv.ParseBool(v)
				if err != nil {
					return f, fmt.Errorf("invalid filter 'all=%s': %w", v, err)
				}
				f.All = b
			}
		default:
			return f, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

// ParseKV reads the CLI's --filter KEY=VALUE list (label!=K reads as key
// "label!"), for Parse.
func ParseKV(list []string) (map[string][]string, error) {
	out := map[string][]string{}
	for _, kv := range list {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", kv)
		}
		k = strings.TrimSpace(k)
		out[k] = append(out[k], v)
	}
	return out, nil
}

// ParseTime reads Docker's time filter values (pkg/timestamp GetTimestamp):
// a Go duration before now ("24h", "10m"), a Unix time with optional
// fraction ("1700000000.5"), RFC 3339 or a date ("2006-01-02",
// "2006-01-02T15:04:05").
func ParseTime(v string, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(v); err == nil {
		return now.Add(-d), nil
	}
	if sec, frac, ok := strings.Cut(v, "."); ok || !strings.ContainsAny(v, "-:T") {
		s, err := strconv.ParseInt(sec, 10, 64)
		if err == nil {
			var ns int64
			if ok {
				frac = (frac + "000000000")[:9]
				if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
					return time.Time{}, fmt.Errorf("invalid until filter %q", v)
				}
			}
			return time.Unix(s, ns), nil
		}
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, v, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("invalid until filter %q: want a duration (24h), a Unix time or an RFC 3339 date", v)
}

// Match reports whether an object with these labels, created at created,
// is selected.
func (f Filter) Match(labels map[string]string, created time.Time) bool {
	if !f.Until.IsZero() && !created.Before(f.Until) {
		return false
	}
	for _, l := range f.Labels {
		if !hasLabel(labels, l) {
			return false
		}
	}
	for _, l := range f.NotLabels {
		if hasLabel(labels, l) {
			return false
		}
	}
	return true
}

// hasLabel: K is present, or K=V has value V.
func hasLabel(labels map[string]string, l string) bool {
	k, v, withValue := strings.Cut(l, "=")
	got, ok := labels[k]
	return ok && (!withValue || got == v)
}
