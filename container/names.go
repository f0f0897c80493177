package container

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"regexp"
	"sync"
)

// newID returns 64 hex digits, the shape of a Docker container id.
func newID() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

// validName is Docker's rule for container names.
var validName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`) })

// ValidateName rejects names Docker would reject (no '/', no "..").
func ValidateName(n string) error {
	if !validName().MatchString(n) || len(n) > 128 {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", n)
	}
	return nil
}

// Docker names containers adjective_scientist; minirun uses adjectives and
// Brazilian scientists, for the class.
var (
	adjectives = []string{"alegre", "bravo", "calmo", "curioso", "esperto", "feliz", "gentil", "lindo", "livre", "manso", "nobre", "rapido", "sabio", "sereno", "tranquilo", "valente"}
	scientists = []string{"chagas", "cruz", "lattes", "nise", "santos_dumont", "bertha", "landell", "brazil", "lutz", "barata", "carneiro", "leal", "mayr", "reis", "ribeiro", "sampaio"}
)

func randomName() string {
	pick := func(l []string) string {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(l))))
		if err != nil {
			panic(err)
		}
		return l[n.Int64()]
	}
	return pick(adjectives) + "_" + pick(scientists)
}
