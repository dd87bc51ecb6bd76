"""Online tests: question banks (versioned questions, imports), course quizzes and timed exams, attempts
graded on the server."""
