# The course's three commands (see README.md). Each sets up .venv first when needed.
.PHONY: book test lab setup clean
book:
	bash tools/course.sh book
test:
	bash tools/course.sh test
lab:
	bash tools/course.sh lab
setup:
	bash tools/course.sh setup
clean:
	rm -rf _build
