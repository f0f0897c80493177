package container

import "fmt"

// ImageUser names a container that uses the image, a running one first,
// and says whether it runs: "" when none uses it. It is what `docker rmi`
// asks before removing an image (image.DeleteOptions.User): dockerd
// refuses even with -f while a running container uses the image, and
// without -f while a stopped one does.
func (m *Manager) ImageUser(imageID string) (id string, running bool, err error) {
	all, err := m.List()
	if err != nil {
		return "", false, fmt.Errorf("which containers use image %s: %w", imageID, err)
	}
	for _, c := range all {
		if c.Image != imageID {
			continue
		}
		if c.State.Running || c.State.Paused || c.State.Restarting {
			return c.ID, true, nil
		}
		if id == "" {
			id = c.ID
		}
	}
	return id, false, nil
}
