from otter.test_files import test_case

OK_FORMAT = False

name = "q_regression"
points = 5

@test_case(points=1, hidden=False, 
    failure_message="just_right_regressor is not ready to grade: read the error below, fix what it says, and rerun the exercise cell.")
def test_regressor_is_ready(just_right_regressor):
    from fcnn_lesson.grading import check_regressor
    check_regressor(just_right_regressor)

