from otter.test_files import test_case

OK_FORMAT = False

name = "q_classification"
points = 5

@test_case(points=1, hidden=False, 
    failure_message="just_right_classifier is not ready to grade: read the error below, fix what it says, and rerun the exercise cell.")
def test_classifier_is_ready(just_right_classifier):
    from fcnn_lesson.grading import check_classifier
    check_classifier(just_right_classifier)

