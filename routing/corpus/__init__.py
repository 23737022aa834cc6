"""The labelled corpus and the generator of its templated part."""
