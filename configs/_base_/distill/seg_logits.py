# Distilling segmentation logits (the decode head's final 1x1 conv) of mmseg EncoderDecoders:
# both models run their tensor forward (backbone + decode head) so the logits get recorded.
teacher_forward = '_forward'
student_forward = '_forward'
