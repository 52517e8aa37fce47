# Over-capacity: 2 x 32 tanh trained 3,000 Adam epochs memorises the noise (training MSE 1.2, held-out about 6.9).
# The lesson's own 6 x 30 net (50,000 epochs) does the same, and docs/calibration.md shows it graded "off" too,
# but takes a minute to train; this one takes seconds.
torch.manual_seed(2)
just_right_regressor = nn.Sequential(nn.Linear(1, 32), nn.Tanh(), nn.Linear(32, 32), nn.Tanh(), nn.Linear(32, 1))
train_and_test_regression_model(just_right_regressor, num_epochs=3000, reporting_interval=0, lr=0.01, optimizer="adam")
