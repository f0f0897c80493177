package build

import (
	"fmt"

	"github.com/minirun/minirun/explain"
)

// stepBuild is one instruction of the Dockerfile: its Do runs the whole
// instruction (the steps it takes inside, a container's, a layer's, are
// narrated inside it).
func stepBuild(n, total int, instruction string) explain.Step {
	return explain.Step{
		ID:      "images-build-step",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: fmt.Sprintf("Passo %d/%d do Dockerfile: %s", n, total, instruction),
			EN: fmt.Sprintf("Dockerfile step %d/%d: %s", n, total, instruction),
		},
		Why: explain.Text{
			PT: "Cada instrução gera uma imagem nova: a anterior mais uma mudança. RUN, COPY e ADD mudam arquivos e geram uma camada; as outras mudam só a config. Se uma imagem já foi feita pela mesma instrução sobre a mesma imagem, ela é reaproveitada (o cache).",
			EN: "Each instruction makes a new image: the previous one plus one change. RUN, COPY and ADD change files and make a layer; the others change only the config. If an image was already made by the same instruction on the same image, it is reused (the cache).",
		},
		Shell: fmt.Sprintf("docker build --progress=plain .   # %s", instruction),
	}
}

// stepBuildDiff turns a RUN container's upper directory into the layer.
func stepBuildDiff(upper string) explain.Step {
	return explain.Step{
		ID:      "images-build-diff",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Transforma o upperdir do RUN numa camada",
			EN: "Turn the RUN container's upperdir into a layer",
		},
		Why: explain.Text{
			PT: "Tudo o que o comando criou, mudou ou apagou está no upperdir do overlay (apagados viram whiteouts, dispositivos 0/0). Empacotado em tar, com os whiteouts de volta para nomes .wh., ele é a camada nova — exatamente o diff entre antes e depois.",
			EN: "Everything the command created, changed or deleted is in the overlay's upperdir (deletions as whiteouts, 0/0 devices). Packed as a tar, with the whiteouts back to .wh. names, it is the new layer — exactly the diff between before and after.",
		},
		Shell: fmt.Sprintf("tar -C %s --numeric-owner --xattrs -cf - . | sha256sum", upper),
	}
}

// stepBuildCache is an instruction that finds, in the store, the image a
// previous build made from it on the same parent: nothing runs.
func stepBuildCache(instruction string) explain.Step {
	return explain.Step{
		ID:      "images-build-cache",
		Chapter: explain.ChapterImages,
		Title: explain.Text{
			PT: "Cache: a imagem desta instrução já existe",
			EN: "Cache: this instruction's image already exists",
		},
		Why: explain.Text{
			PT: "Mesma imagem-pai e mesma instrução (para COPY, mesmo hash dos arquivos) dão a mesma imagem: o build a reaproveita em vez de rodar de novo. Mudar uma linha invalida o cache dela e de todas as seguintes.",
			EN: "Same parent image and same instruction (for COPY, the same hash of the files) give the same image: the build reuses it instead of running again. Changing a line invalidates its cache and that of every line after it.",
		},
		Shell: "minirun build .   # " + instruction + " ---> Using cache",
	}
}
