# Ablation: the demo's PointDistiller without reweighting (every centre weighs 1).
_base_ = ['./pointpillars_pointdistiller_lidar.py']
distiller = dict(reweight='none')
