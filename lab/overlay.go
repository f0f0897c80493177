package lab

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayLab: a container named camadas writes a new file, appends to a
// file of the image and deletes another; the student finds the three
// changes in the overlay's upper dir, which `minirun inspect` names under
// GraphDriver, and sees that the image's layers did not change.
func overlayLab() *Lab {
	var pid int
	var upper string
	var lowers []string
	return &Lab{
		Name:  "overlay",
		Title: text("camadas, upper dir e whiteouts", "layers, upper dir and whiteouts"),
		Checks: []Check{
			{
				What: text("o contêiner camadas está rodando", "container camadas is running"),
				Hint: text("rode: minirun run -d --name camadas busybox sleep 3600",
					"run: minirun run -d --name camadas busybox sleep 3600"),
				Run: func(e *Env) error {
					meta, err := e.running("camadas")
					if err != nil {
						return err
					}
					pid = meta.State.Pid
					upper = meta.GraphDriver.Data["UpperDir"]
					lowers = strings.Split(meta.GraphDriver.Data["LowerDir"], ":")
					if meta.GraphDriver.Name != "overlay2" || upper == "" {
						return fmt.Errorf("GraphDriver %q sem UpperDir / without UpperDir", meta.GraphDriver.Name)
					}
					return nil
				},
			},
			{
				What: text("o arquivo novo /novo.txt está no upper dir", "the new file /novo.txt is in the upper dir"),
				Hint: text("crie o arquivo dentro do contêiner: minirun exec camadas sh -c 'echo oi > /novo.txt'",
					"create the file inside the container: minirun exec camadas sh -c 'echo oi > /novo.txt'"),
				Run: func(e *Env) error {
					fi, err := os.Lstat(filepath.Join(upper, "novo.txt"))
					if err != nil {
						return err
					}
					if !fi.Mode().IsRegular() {
						return fmt.Errorf("%s: %s", filepath.Join(upper, "novo.txt"), fi.Mode())
					}
					return nil
				},
			},
			{
				What: text("/etc/passwd foi copiado para o upper dir (copy-up) e a camada da imagem não mudou",
					"/etc/passwd was copied up to the upper dir and the image's layer did not change"),
				Hint: text("acrescente uma linha dentro do contêiner: minirun exec camadas sh -c 'echo aluno:x:1000:1000::/tmp:/bin/sh >> /etc/passwd'",
					"append a line inside the container: minirun exec camadas sh -c 'echo aluno:x:1000:1000::/tmp:/bin/sh >> /etc/passwd'"),
				Run: func(e *Env) error {
					b, err := os.ReadFile(filepath.Join(upper, "etc", "passwd"))
					if err != nil {
						return err
					}
					if !bytes.Contains(b, []byte("aluno:")) {
						return errors.New("upper/etc/passwd sem a linha aluno / without the aluno line")
					}
					for _, l := range lowers {
						lb, err := os.ReadFile(filepath.Join(l, "etc", "passwd"))
						if err == nil && bytes.Contains(lb, []byte("aluno:")) {
							return fmt.Errorf("a camada da imagem mudou / the image's layer changed: %s", l)
						}
					}
					return nil
				},
			},
			{
				What: text("apagar /bin/vi deixou um whiteout (dispositivo de caractere 0/0) no upper dir",
					"deleting /bin/vi left a whiteout (a 0/0 character device) in the upper dir"),
				Hint: text("apague o arquivo dentro do contêiner: minirun exec camadas rm /bin/vi",
					"delete the file inside the container: minirun exec camadas rm /bin/vi"),
				Run: func(e *Env) error {
					return whiteout(filepath.Join(upper, "bin", "vi"))
				},
			},
			{
				What: text("/bin/vi continua na camada da imagem, mas o contêiner não o vê",
					"/bin/vi is still in the image's layer, but the container does not see it"),
				Hint: text("a camada da imagem (LowerDir) nunca muda: confira GraphDriver com minirun inspect camadas",
					"the image's layer (LowerDir) never changes: look at GraphDriver in minirun inspect camadas"),
				Run: func(e *Env) error {
					inImage := false
					for _, l := range lowers {
						if ok, _ := lexists(filepath.Join(l, "bin", "vi")); ok {
							inImage = true
						}
					}
					if !inImage {
						return errors.New("nenhum LowerDir tem bin/vi / no LowerDir has bin/vi")
					}
					// /proc/PID/root is the container's own root, seen
					// through its mount namespace: the merged view.
					seen, err := lexists(filepath.Join(e.Proc, strconv.Itoa(pid), "root", "bin", "vi"))
					if err != nil {
						return err
					}
					if seen {
						return errors.New("o contêiner ainda vê /bin/vi / the container still sees /bin/vi")
					}
					return nil
				},
			},
		},
	}
}

// whiteout checks that path is an overlayfs whiteout: a character device
// with device number 0/0, which hides the lower layers' file of that name
// (Documentation/filesystems/overlayfs.rst, "whiteouts and opaque
// directories").
func whiteout(path string) error {
	var st unix.Stat_t
	if err := unix.Lstat(path, &st); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("%s não existe / does not exist", path)
		}
		return fmt.Errorf("stat %s: %w", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 0 || unix.Minor(st.Rdev) != 0 {
		return fmt.Errorf("%s: modo / mode %o, dispositivo / device %d/%d", path, st.Mode,
			unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	return nil
}
