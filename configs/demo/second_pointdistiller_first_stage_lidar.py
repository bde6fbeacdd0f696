# Ablation (a departure from the reference, which distils both BEV stages): PointDistiller on the demo SECOND
# pair's first BEV stage only. The demo teacher's second stage is nearly dead (0.6 % of its outputs above
# zero); distilling it pulls the student's second stage dead too (docs/det3d.md, "The SECOND pair beside
# the retrained teacher" and "The SECOND grids on the tuning split").
_base_ = ['./second_pointdistiller_lidar.py']
stage = 'backbone[0]'
distiller = dict(student_features=[stage], teacher_features=[stage], student_channels=[16], teacher_channels=[64],
                 centre_share=[256 / (200 * 176)], neighbour_share=[128 / (200 * 176)])
