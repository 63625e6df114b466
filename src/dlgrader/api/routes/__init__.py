"""One router per resource: grading, questions, topics, health."""
