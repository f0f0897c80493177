// Package course runs the chapters of `minirun explain`: for each chapter,
// the live demo (a real container, real host changes, the chapter's steps
// narrated) and its dry run (the same steps described, changing nothing,
// without root). Both come from one registry, and both call the packages
// that own the steps — container, runtime, network, volume, image — so a
// root test can check that a chapter's dry run lists exactly the steps its
// live run takes, in order. cmd/minirun only picks a chapter and a sink.
package course
