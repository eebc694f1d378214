"""consultbot: reach the colleague on duty."""
