# The course's three commands (see README.md), and `make student` for instructors. Each sets up .venv first when needed.
.PHONY: book test lab setup student clean
book:
	bash tools/course.sh book
test:
	bash tools/course.sh test
lab:
	bash tools/course.sh lab
setup:
	bash tools/course.sh setup
student:
	bash tools/course.sh student
clean:
	rm -rf _build
