"""Pioneer wishes: micro-wishes (微心愿) submitted for residents, reviewed, claimed by exactly one
volunteer however many try at once, fulfilled, confirmed, or expired past their deadline."""
