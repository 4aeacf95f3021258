"""Economic indicators from FRED: policy rates, inflation, unemployment, yields, the dollar."""
