# The lesson's 2-2-1 tanh network: "not non-linear enough" (model bias).
torch.manual_seed(42)
just_right_classifier = nn.Sequential(nn.Linear(2, 2), nn.Tanh(), nn.Linear(2, 1), nn.Sigmoid())
train_and_test_classification_model(just_right_classifier, 10_000, 0)
