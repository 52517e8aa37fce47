# The lesson's 6 x 30 tanh network trained for 50,000 epochs: it memorises the noise (overfitting).
torch.manual_seed(42)
just_right_regressor = nn.Sequential(
    nn.Linear(1, 30), nn.Tanh(),
    nn.Linear(30, 30), nn.Tanh(),
    nn.Linear(30, 30), nn.Tanh(),
    nn.Linear(30, 30), nn.Tanh(),
    nn.Linear(30, 30), nn.Tanh(),
    nn.Linear(30, 30), nn.Tanh(),
    nn.Linear(30, 1),
)
train_and_test_regression_model(just_right_regressor, num_epochs=50_000, reporting_interval=0)
