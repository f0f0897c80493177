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

// ValidateName rejects names Docker would reject (no '/', no ".."), and
// names in the shape of a full container id: a reference is first taken
// as a full id (Get), so such a name could never be reached by it, and
// `rm -f NAME` would remove the container whose id it is.
func ValidateName(n string) error {
	if !validName().MatchString(n) || len(n) > 128 {
		return fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", n)
	}
	if isFullID(n) {
		return fmt.Errorf("invalid container name %q: 64 hexadecimal digits is the form of a container id", n)
	}
	return nil
}

// isFullID reports whether s has the form of a container id (newID).
func isFullID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// Docker names a container adjective_surname when --name is not given
// (moby pkg/namesgenerator). minirun does the same with Portuguese
// adjectives and the surnames of scientists who worked in Brazil, for the
// class. The space must be large: names stay taken until their container
// is removed (an exited container keeps its name, as in Docker), and a
// space of 16 × 16 names once ran out after 256 containers, leaving `run`
// spinning with the lock held. Here it is len(adjectives) × len(scientists)
// plain names, each also with a digit suffix on a retry (as Docker).
var (
	adjectives = []string{
		"agil", "alegre", "amavel", "animado", "ardente", "astuto", "atento", "audaz",
		"bondoso", "bravo", "brilhante", "calmo", "cativante", "charmoso", "cordial", "corajoso",
		"criativo", "curioso", "decidido", "dedicado", "destemido", "determinado", "divertido", "doce",
		"elegante", "engenhoso", "entusiasmado", "esforcado", "esperto", "faceiro", "feliz", "fiel",
		"firme", "focado", "forte", "generoso", "gentil", "gracioso", "habil", "honesto",
		"humilde", "incansavel", "inventivo", "jovial", "ligeiro", "lindo", "livre", "lucido",
		"luminoso", "maneiro", "manso", "meticuloso", "modesto", "nobre", "ousado", "paciente",
		"pensativo", "perspicaz", "persistente", "poderoso", "pontual", "prestativo", "prudente", "radiante",
		"rapido", "risonho", "robusto", "sabio", "sagaz", "sensato", "serelepe", "sereno",
		"simpatico", "sincero", "solidario", "sonhador", "sorridente", "sossegado", "talentoso", "teimoso",
		"tenaz", "terno", "tranquilo", "valente", "valoroso", "veloz", "vibrante", "zeloso",
	}
	scientists = []string{
		"abreu", "absaber", "allemao", "amato", "avila", "barata", "barbosa", "barbuy",
		"barroso", "bertha", "bicudo", "brazil", "brito", "candotti", "cardoso", "carneiro",
		"castro", "cerqueira_leite", "chagas", "chaves", "cruls", "cruz", "demello", "dobereiner",
		"ducke", "enedina", "freire", "freire_maia", "frota_pessoa", "furtado", "gleiser", "goeldi",
		"goes", "goldemberg", "gonzalez", "gross", "guidon", "guimaraes", "gusmao", "hamburger",
		"herculano", "ihering", "kerr", "lacerda", "landell", "lattes", "leal", "leite_lopes",
		"lima", "lofgren", "lutz", "mascarenhas", "mayr", "morize", "muller", "nachbin",
		"nader", "nicolelis", "nise", "nussenzveig", "nussenzweig", "palis", "pavan", "peixoto",
		"penna", "reis", "ribas", "ribeiro", "rocha_lima", "rodrigues", "rondon", "roquette_pinto",
		"sabino", "sala", "salmeron", "sampaio", "santos", "santos_dumont", "schenberg", "swieca",
		"teixeira", "tiomno", "tsallis", "veiga_pereira", "velloso", "vianna", "wataghin", "zatz",
	}
)

// nameTries bounds the search for a free generated name: under the
// containers' lock, a full space must give an error, never a spin.
const nameTries = 100

// randomName is try number retry's candidate: adjective_scientist, with a
// random digit after it from the second try on (moby's GetRandomName).
func randomName(retry int) string {
	name := pick(adjectives) + "_" + pick(scientists)
	if retry > 0 {
		name += string(rune('0' + randInt(10)))
	}
	return name
}

// generateName finds a free name for the container id: nameTries random
// candidates, then the id's first 12 digits, which is Docker's last
// resort (daemon/names.go generateNewName). It fails, at once, when even
// that is taken.
func generateName(id string, taken func(string) bool) (string, error) {
	for i := 0; i < nameTries; i++ {
		if n := randomName(i); !taken(n) {
			return n, nil
		}
	}
	if short := id[:12]; !taken(short) {
		return short, nil
	}
	return "", fmt.Errorf("no free container name after %d tries: remove stopped containers (container prune) or give one with --name", nameTries)
}

func pick(l []string) string { return l[randInt(len(l))] }

// randInt is a uniform random number in [0, n), from crypto/rand as the
// ids are: names need no seed and never repeat a sequence.
func randInt(n int) int {
	v, err := rand.Int(rand.Reader, big.NewInt(int64(n)))
	if err != nil {
		panic(err)
	}
	return int(v.Int64())
}
