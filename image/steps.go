package image

import (
	"fmt"
	"strings"

	"github.com/minirun/minirun/explain"
)

// The steps of an import, as `minirun explain images` narrates them. Each
// constructor fills in the description; the caller attaches Do, Undo and
// Evidence. In a dry run the values not yet known are shell variables
// ($DIFF_ID, $IMAGE_ID).

func stepLayerExtract(diffDir string) explain.Step {
	return explain.Step{
		ID:      "images-layer-extract",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Extrai a camada do arquivo tar",
			EN: "Extract the layer from the tar archive",
		},
		Why: explain.Text{
			PT: "Uma camada é um tar. O sha256 do tar descompactado (o diff_id) vira o nome dela, e o diretório extraído é o que o overlayfs empilha como lowerdir. Nomes com '..' ou que atravessam symlinks para fora são recusados.",
			EN: "A layer is a tar. The sha256 of the uncompressed tar (its diff_id) becomes its name, and the extracted directory is what overlayfs stacks as a lowerdir. Names with '..' or that cross symlinks leading out are refused.",
		},
		Shell: fmt.Sprintf(`mkdir -p %s && zcat -f "$TAR" | tee >(sha256sum >&2) | tar -C %s --numeric-owner --xattrs -xpf -`,
			diffDir, diffDir),
	}
}

func stepLayerCommit(staged, final string) explain.Step {
	return explain.Step{
		ID:      "images-layer-commit",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Guarda a camada pelo seu diff_id",
			EN: "Store the layer under its diff_id",
		},
		Why: explain.Text{
			PT: "Endereçar pelo conteúdo faz duas imagens com a mesma camada guardarem-na uma vez só: se ela já existe, a cópia nova é descartada. O rename(2) é atômico, então ninguém vê uma camada pela metade.",
			EN: "Addressing by content makes two images that share a layer store it once: if it is already there, the new copy is dropped. rename(2) is atomic, so nobody sees a half-stored layer.",
		},
		Shell: fmt.Sprintf("[ -d %s ] || mv %s %s", final, staged, final),
	}
}

func stepConfigWrite(path string) explain.Step {
	return explain.Step{
		ID:      "images-config-write",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Grava a configuração da imagem",
			EN: "Write the image configuration",
		},
		Why: explain.Text{
			PT: "O config JSON do OCI lista as camadas (rootfs.diff_ids, de baixo para cima) e os padrões do processo (Cmd, Env, WorkingDir). O sha256 desse JSON é o ID da imagem.",
			EN: "The OCI config JSON lists the layers (rootfs.diff_ids, bottom first) and the process defaults (Cmd, Env, WorkingDir). The sha256 of that JSON is the image ID.",
		},
		Shell: fmt.Sprintf("sha256sum config.json && cp config.json %s", path),
	}
}

func stepTag(reposPath, lockPath, ref, id string) explain.Step {
	return explain.Step{
		ID:      "images-tag",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Dá um nome à imagem",
			EN: "Give the image a name",
		},
		Why: explain.Text{
			PT: "Um nome como busybox:latest é só um ponteiro para o ID. O arquivo de nomes é reescrito inteiro (temporário + rename) sob flock, para que dois minirun ao mesmo tempo não percam um nome.",
			EN: "A name like busybox:latest is only a pointer to the ID. The names file is rewritten whole (temporary file + rename) under flock, so two minirun processes at once never lose a name.",
		},
		Shell: fmt.Sprintf(`flock %s sh -c 'jq ".repositories[\"%s\"] = \"%s\"" %s > %s.tmp && mv %s.tmp %s'`,
			lockPath, ref, id, reposPath, reposPath, reposPath, reposPath),
	}
}

// The steps of a pull. base is the registry's API prefix for the
// repository, e.g. https://index.docker.io/v2/library/busybox.

// pullAuth returns what a shell needs to talk to the registry at base:
// Docker Hub wants an anonymous pull token first (fetched into $TOKEN by
// prefix, then sent by header); other registries, like the course's on
// loopback, answer without one. Each step's shell carries its own prefix,
// so that it runs as written on its own.
func pullAuth(base string) (prefix, header string) {
	_, repo, ok := strings.Cut(base, "/v2/")
	if !ok || !strings.Contains(base, "docker.io/") {
		return "", ""
	}
	return fmt.Sprintf(`TOKEN=$(curl -s "https://auth.docker.io/token?service=registry.docker.io&scope=repository:%s:pull" | jq -r .token); `, repo),
		`-H "Authorization: Bearer $TOKEN" `
}

func stepPullManifest(base, reference string) explain.Step {
	prefix, header := pullAuth(base)
	return explain.Step{
		ID:      "images-pull-manifest",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Busca o manifest no registry",
			EN: "Fetch the manifest from the registry",
		},
		Why: explain.Text{
			PT: "O manifest lista o digest da config e os das camadas. Se a tag aponta para uma lista de manifests (uma imagem multiplataforma), escolhe-se o da plataforma desta máquina. O Docker Hub pede um token antes, mesmo para imagens públicas.",
			EN: "The manifest lists the config's digest and the layers'. If the tag points at a manifest list (a multi-platform image), the one for this machine's platform is picked. Docker Hub asks for a token first, even for public images.",
		},
		Shell: fmt.Sprintf(`%scurl -s %s-H "Accept: application/vnd.oci.image.index.v1+json,application/vnd.docker.distribution.manifest.list.v2+json,application/vnd.oci.image.manifest.v1+json,application/vnd.docker.distribution.manifest.v2+json" %s/manifests/%s`,
			prefix, header, base, reference),
	}
}

func stepPullConfig(base, configDigest string) explain.Step {
	prefix, header := pullAuth(base)
	return explain.Step{
		ID:      "images-pull-config",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Baixa a config e confere o seu digest",
			EN: "Download the config and check its digest",
		},
		Why: explain.Text{
			PT: "A config é um blob como outro qualquer: o seu nome é o sha256 do conteúdo, e esse hash é o ID da imagem. Se o que chegou não tem esse hash, o registry (ou alguém no caminho) mentiu, e o pull para.",
			EN: "The config is a blob like any other: its name is the sha256 of its content, and that hash is the image ID. If what arrived does not have that hash, the registry (or someone on the way) lied, and the pull stops.",
		},
		Shell: fmt.Sprintf(`%scurl -sL %s%s/blobs/%s -o config.json && sha256sum config.json`, prefix, header, base, configDigest),
	}
}

func stepPullLayer(base, layerDigest, file string) explain.Step {
	prefix, header := pullAuth(base)
	return explain.Step{
		ID:      "images-pull-layer",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Baixa uma camada e confere o seu digest",
			EN: "Download a layer and check its digest",
		},
		Why: explain.Text{
			PT: "Cada camada chega comprimida (tar.gz); o manifest diz o sha256 e o tamanho do arquivo comprimido. Camadas que o armazém já tem não são baixadas de novo. Depois de extraída, o sha256 do tar descomprimido tem de bater com o diff_id da config.",
			EN: "Each layer arrives compressed (tar.gz); the manifest gives the sha256 and size of the compressed file. Layers the store already has are not downloaded again. Once extracted, the sha256 of the uncompressed tar must match the config's diff_id.",
		},
		Shell: fmt.Sprintf(`%scurl -sL %s%s/blobs/%s -o %s && sha256sum %s`, prefix, header, base, layerDigest, file, file),
	}
}

func stepRemove(ref string) explain.Step {
	return explain.Step{
		ID:      "images-remove",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Remove a imagem " + ref,
			EN: "Remove the image " + ref,
		},
		Why: explain.Text{
			PT: "Tirar o último nome apaga a config e só as camadas que nenhuma outra imagem lista; os passos anônimos do build embaixo dela vão junto.",
			EN: "Dropping the last name deletes the config and only the layers no other image lists; the anonymous build steps below it go too.",
		},
		Shell: "minirun image rm " + ref,
	}
}
