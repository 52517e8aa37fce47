# Over-capacity: 2 x 32 ReLU trained 3,000 Adam epochs is confident and wrong off its training points
# (training accuracy 0.99, held-out cross-entropy about 1.9). The lesson's 6 x 50 net (30,000 epochs) does the
# same (see docs/calibration.md) but takes a minute to train.
torch.manual_seed(0)
just_right_classifier = nn.Sequential(nn.Linear(2, 32), nn.ReLU(), nn.Linear(32, 32), nn.ReLU(), nn.Linear(32, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, num_epochs=3000, reporting_interval=0, lr=0.01, optimizer="adam")
