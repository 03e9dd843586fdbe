"""Pioneer points: ledger, redemption (积分兑换), rankings and the annual assessment."""
