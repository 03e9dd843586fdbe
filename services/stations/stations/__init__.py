"""Pioneer stations (先锋驿站): service points meeting the "five haves", their posts (岗位),
activities and QR-code check-in."""
