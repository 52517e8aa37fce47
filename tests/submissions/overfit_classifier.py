# The lesson's 6 x 50 tanh network trained for 30,000 epochs: confident and wrong off the training points.
torch.manual_seed(42)
just_right_classifier = nn.Sequential(
    nn.Linear(2, 50), nn.Tanh(),
    nn.Linear(50, 50), nn.Tanh(),
    nn.Linear(50, 50), nn.Tanh(),
    nn.Linear(50, 50), nn.Tanh(),
    nn.Linear(50, 50), nn.Tanh(),
    nn.Linear(50, 50), nn.Tanh(),
    nn.Linear(50, 1), nn.Sigmoid(),
)
train_and_test_classification_model(just_right_classifier, 30_000, 0)
