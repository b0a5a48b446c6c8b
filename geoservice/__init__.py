"""geoservice: warm stations, worker homes and caravan tours for Miyun's trade union.

密云区总工会 暖心驿站 / 职工之家 / 大篷车 地理服务。
"""

__version__ = "0.1.0"
