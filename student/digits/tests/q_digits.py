from otter.test_files import test_case

OK_FORMAT = False

name = "q_digits"
points = 5

@test_case(points=1, hidden=False, 
    failure_message="digit_classifier is not ready to grade: read the error below, fix what it says, and rerun the exercise cell.")
def test_classifier_is_ready(digit_classifier):
    from digits_lesson.grading import check_classifier
    check_classifier(digit_classifier)

