package image

import (
	"fmt"

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
			PT: "Extrair a camada do arquivo tar",
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
			PT: "Guardar a camada pelo seu diff_id",
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
			PT: "Gravar a configuração da imagem",
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
			PT: "Dar um nome à imagem",
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
