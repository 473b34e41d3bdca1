# Convenience targets; the two commands of the README do the real work.
.PHONY: demo test docs install
demo:
	bash scripts/demo.sh
test:
	bash scripts/test.sh
install:
	bash scripts/setup.sh
# Render the pictures of docs/ from their Graphviz sources (apt-get install graphviz).
docs:
	for f in docs/img/*.dot; do dot -Tsvg "$$f" -o "$${f%.dot}.svg"; done
